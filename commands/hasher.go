package commands

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordHasher hashes passwords and verifies them against stored hashes.
type PasswordHasher interface {
	// Hash returns the encoded hash of password.
	Hash(password string) (string, error)
	// Verify reports whether password matches hash. An error means the hash
	// is malformed, not that the password is wrong.
	Verify(hash, password string) (bool, error)
}

// Argon2Params are argon2id cost parameters.
type Argon2Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// DefaultArgon2Params returns the OWASP-recommended argon2id parameters
// (19 MiB, 2 iterations, 1 lane, 16-byte salt, 32-byte key).
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// TestArgon2Params returns cheap parameters for tests. Never use them in production.
func TestArgon2Params() Argon2Params {
	return Argon2Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// Limits on parameters read from stored hashes, so a corrupt or hostile hash
// cannot make verification exhaust memory or CPU.
const (
	maxArgon2Memory     = 1 << 20 // 1 GiB in KiB
	maxArgon2Iterations = 64
)

type argon2idHasher struct{ p Argon2Params }

// NewArgon2idHasher returns a PasswordHasher using argon2id
// (golang.org/x/crypto/argon2) that encodes hashes in the PHC string format
// "$argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<hash>" (unpadded
// standard base64). Verify uses the parameters stored in the hash, so hashes
// made with older parameters keep working, and compares in constant time.
func NewArgon2idHasher(p Argon2Params) PasswordHasher {
	if p.Parallelism == 0 {
		p.Parallelism = 1
	}
	if p.SaltLength == 0 {
		p.SaltLength = 16
	}
	if p.KeyLength == 0 {
		p.KeyLength = 32
	}
	if p.Iterations == 0 {
		p.Iterations = 1
	}
	if p.Memory < 8*uint32(p.Parallelism) {
		p.Memory = 8 * uint32(p.Parallelism)
	}
	return argon2idHasher{p: p}
}

// Hash implements PasswordHasher.
func (h argon2idHasher) Hash(password string) (string, error) {
	salt := make([]byte, h.p.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.p.Iterations, h.p.Memory, h.p.Parallelism, h.p.KeyLength)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.p.Memory, h.p.Iterations, h.p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errMalformedHash = errors.New("malformed argon2id hash")

// Verify implements PasswordHasher.
func (h argon2idHasher) Verify(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, fmt.Errorf("verify password: %w", errMalformedHash)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("verify password: %w: version %q", errMalformedHash, parts[2])
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("verify password: %w: parameters %q", errMalformedHash, parts[3])
	}
	if p == 0 || t == 0 || t > maxArgon2Iterations || m < 8*uint32(p) || m > maxArgon2Memory {
		return false, fmt.Errorf("verify password: %w: parameters out of range", errMalformedHash)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) == 0 {
		return false, fmt.Errorf("verify password: %w: salt", errMalformedHash)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 128 {
		return false, fmt.Errorf("verify password: %w: key", errMalformedHash)
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
