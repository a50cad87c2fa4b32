//! Drawing intersection files as SVG and PNG.
