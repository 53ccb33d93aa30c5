"""Document adapters on real technology: a content-addressed store on the local filesystem, the
purchase agreement rendered with reportlab, and the signed copy sealed with a PAdES signature."""
