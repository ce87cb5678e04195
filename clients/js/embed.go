// Package js holds weft's dependency-free JavaScript client (weft.js, an
// ES module for browsers and Node, with weft.d.ts) and embeds it, so the
// web console can serve the very same file.
package js

import _ "embed"

// Source is weft.js.
//
//go:embed weft.js
var Source []byte
