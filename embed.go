// Package hookline embeds the files at the repository root that the binary
// needs at run time: the event catalogue, schema.hcl.
package hookline

import _ "embed"

// Schema is schema.hcl, the built-in event catalogue.
//
//go:embed schema.hcl
var Schema []byte
