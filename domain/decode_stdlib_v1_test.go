//go:build !goexperiment.jsonv2 || !go1.25

package domain

// stdlibJSONIsV2 reports whether encoding/json is built on the v2
// implementation (GOEXPERIMENT=jsonv2). It is not in this build, so
// encoding/json is the v1 decoder that wrote every stored payload.
const stdlibJSONIsV2 = false
