"""Files attached to cases: a content-addressed store on disk, type sniffing and thumbnails."""
