//go:build goexperiment.jsonv2 && go1.25

package domain

// stdlibJSONIsV2 reports whether encoding/json is built on the v2
// implementation (GOEXPERIMENT=jsonv2). It is in this build: encoding/json
// then unescapes time strings before parsing them (golang/go#47353), which
// the v1 decoder that wrote the stored payloads never did.
const stdlibJSONIsV2 = true
