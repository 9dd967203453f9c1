// Package seal owns the host's envelope encryption of secrets at rest: a
// master key in the data dir seals a fresh random data key per sealed
// value, and the data key seals the value with AES-256-GCM. Both layers
// carry associated data naming what the value belongs to, so a ciphertext
// copied to another function, version or field does not open.
package seal
