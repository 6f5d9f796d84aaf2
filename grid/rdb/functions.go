package rdb

import (
	"encoding/binary"
	"errors"
)

// Function libraries in FUNCTION DUMP's payload, as Redis 7.0 writes it: per library the
// RDB_OPCODE_FUNCTION2 byte and the library's code as an RDB string, then the version and
// the checksum (Seal).

// opFunction2 is Redis's RDB_OPCODE_FUNCTION2.
const opFunction2 = 245

// EncodeFunctions is FUNCTION DUMP's payload of the libraries' codes.
func EncodeFunctions(codes []string) []byte {
	var b []byte
	for _, code := range codes {
		b = appendString(append(b, opFunction2), []byte(code))
	}
	return Seal(b)
}

// DecodeFunctions reads a FUNCTION RESTORE payload: ErrChecksum when its version is newer
// than Version or its checksum is wrong, ErrBadFormat when it holds anything but function
// libraries, ErrTooLarge past limit bytes of code.
func DecodeFunctions(p []byte, limit int64) ([]string, error) {
	if len(p) < 10 {
		return nil, ErrChecksum
	}
	if binary.LittleEndian.Uint16(p[len(p)-10:]) > Version || crc(p[:len(p)-8]) != binary.LittleEndian.Uint64(p[len(p)-8:]) {
		return nil, ErrChecksum
	}
	r := &reader{b: p[:len(p)-10], budget: limit}
	var codes []string
	for len(r.b) > 0 {
		op, err := r.byte()
		if err != nil || op != opFunction2 {
			return nil, ErrBadFormat
		}
		code, err := r.str()
		switch {
		case errors.Is(err, ErrTooLarge):
			return nil, ErrTooLarge
		case err != nil:
			return nil, ErrBadFormat
		}
		codes = append(codes, string(code))
	}
	return codes, nil
}
