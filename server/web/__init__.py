"""HTML pages and ActivityPub/discovery routes: what peers and browsers fetch."""
