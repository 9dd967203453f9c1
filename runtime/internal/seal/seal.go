package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrOpen is returned when a sealed value does not open: it was sealed
// under another master key or for another context, or it was altered.
var ErrOpen = errors.New("sealed value does not open")

// Envelope is one sealed value as stored: the data key sealed by the
// master key, and the value sealed by the data key. Both ciphertexts are
// nonce || AES-256-GCM output.
type Envelope struct {
	// KeyID names the master key that sealed DataKey, so a host started
	// with the wrong key says so instead of reporting corrupt data, and a
	// later key rotation knows which values to re-wrap.
	KeyID   string `json:"keyId"`
	DataKey []byte `json:"dataKey"`
	Data    []byte `json:"data"`
}

// Sealer seals and opens values under one master key. It is safe for
// concurrent use.
type Sealer struct {
	master cipher.AEAD
	keyID  string
}

// New returns a Sealer for a 32-byte master key.
func New(masterKey []byte) (*Sealer, error) {
	if len(masterKey) != KeySize {
		return nil, fmt.Errorf("master key is %d bytes, want %d", len(masterKey), KeySize)
	}
	aead, err := newGCM(masterKey)
	if err != nil {
		return nil, err
	}
	// An HMAC rather than a plain hash of the key, so the stored id says
	// nothing about the key beyond telling two keys apart.
	mac := hmac.New(sha256.New, masterKey)
	mac.Write([]byte("kumo master key id"))
	return &Sealer{master: aead, keyID: hex.EncodeToString(mac.Sum(nil)[:8])}, nil
}

// KeyID names the master key.
func (s *Sealer) KeyID() string { return s.keyID }

// Seal encrypts plaintext under a fresh random data key. context names what
// the value belongs to (for example function name, version and field); the
// same context must be given to Open.
func (s *Sealer) Seal(plaintext []byte, context ...string) (*Envelope, error) {
	dek := make([]byte, KeySize)
	defer clear(dek)
	if _, err := rand.Read(dek); err != nil {
		return nil, fmt.Errorf("generate data key: %w", err)
	}
	sealedKey, err := seal(s.master, dek, associatedData("data-key", context))
	if err != nil {
		return nil, fmt.Errorf("seal data key: %w", err)
	}
	aead, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	data, err := seal(aead, plaintext, associatedData("data", context))
	if err != nil {
		return nil, fmt.Errorf("seal value: %w", err)
	}
	return &Envelope{KeyID: s.keyID, DataKey: sealedKey, Data: data}, nil
}

// Open decrypts e, which must have been sealed with this master key for
// the same context. Every failure wraps ErrOpen.
func (s *Sealer) Open(e *Envelope, context ...string) ([]byte, error) {
	if e == nil {
		return nil, fmt.Errorf("%w: no envelope", ErrOpen)
	}
	if e.KeyID != s.keyID {
		return nil, fmt.Errorf("%w: sealed with master key %q, this host has %q", ErrOpen, e.KeyID, s.keyID)
	}
	dek, err := open(s.master, e.DataKey, associatedData("data-key", context))
	if err != nil {
		return nil, fmt.Errorf("%w: data key: %w", ErrOpen, err)
	}
	defer clear(dek)
	if len(dek) != KeySize {
		return nil, fmt.Errorf("%w: data key is %d bytes", ErrOpen, len(dek))
	}
	aead, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	plaintext, err := open(aead, e.Data, associatedData("data", context))
	if err != nil {
		return nil, fmt.Errorf("%w: value: %w", ErrOpen, err)
	}
	return plaintext, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// seal returns nonce || ciphertext. Nonces are random: every data key
// seals exactly one value, and the master key seals far fewer than the
// 2^32 values random 96-bit nonces allow.
func seal(aead cipher.AEAD, plaintext, ad []byte) ([]byte, error) {
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("generate nonce: %w", err)
	}
	return aead.Seal(out, out, plaintext, ad), nil
}

func open(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("ciphertext too short")
	}
	n := aead.NonceSize()
	return aead.Open(nil, sealed[:n], sealed[n:], ad)
}

// associatedData encodes the layer and the context unambiguously: every
// part is length-prefixed, so ("a|b", "c") and ("a", "b|c") differ.
func associatedData(layer string, context []string) []byte {
	parts := append([]string{"kumo-seal-v1", layer}, context...)
	var ad []byte
	for _, p := range parts {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(p)))
		ad = append(ad, p...)
	}
	return ad
}
