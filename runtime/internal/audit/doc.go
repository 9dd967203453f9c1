// Package audit owns the record of control-plane calls: who called which
// operation on what, with which result, when and from where. Records are
// queued without blocking the request that produced them, written to the
// store's bounded audit stream by one writer, and flushed on Close. A
// record never carries a request body or anything from one.
package audit
