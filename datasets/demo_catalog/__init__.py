"""The demo catalog: composed, rendered tracks with exact tags (see README.md)."""
