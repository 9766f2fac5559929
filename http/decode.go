package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// decodeJSON strictly decodes the request body into dst: the content type
// must be JSON (415 otherwise), unknown fields and trailing data are refused
// (400 malformed_json), a wrong type for a field is a 422 naming the field,
// and a body over the limit is a 413 (the body is wrapped in
// http.MaxBytesReader by the limitBody middleware). An empty body decodes
// as {} when allowEmpty is set.
func decodeJSON(c *gin.Context, dst any, allowEmpty bool) error {
	r := c.Request
	if r.ContentLength == 0 && allowEmpty && r.Header.Get("Content-Type") == "" {
		return nil
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) && allowEmpty {
			return nil
		}
		return decodeError(err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err)
		}
		return domain.Wrap(errors.New("trailing data after the JSON value"), domain.KindInvalid, "malformed_json", "the request body must hold exactly one JSON value")
	}
	return nil
}

func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return errUnsupportedMediaType
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return errUnsupportedMediaType
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return errUnsupportedMediaType
	}
	return nil
}

func decodeError(err error) error {
	var (
		maxErr  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
		synErr  *json.SyntaxError
	)
	switch {
	case errors.As(err, &maxErr):
		return errTooLarge
	case errors.As(err, &typeErr) && typeErr.Field != "":
		field := typeErr.Field
		return domain.Invalid("invalid_field_type", "a field has the wrong type",
			map[string][]string{field: {fmt.Sprintf("must be a %s", jsonKind(typeErr.Type.Kind().String()))}})
	case errors.As(err, &synErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return domain.Wrap(err, domain.KindInvalid, "malformed_json", "the request body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		// encoding/json reports unknown fields only as a plain error.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &domain.Error{Kind: domain.KindInvalid, Code: "malformed_json", Message: "unknown field " + name,
			Fields: map[string][]string{name: {"unknown field"}}, Err: err}
	default:
		return domain.Wrap(err, domain.KindInvalid, "malformed_json", "the request body is not JSON of the expected shape")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice", "array":
		return "list"
	case "map", "struct":
		return "object"
	case "bool":
		return "boolean"
	case "ptr":
		return "value of the right type"
	default:
		return "number"
	}
}
