// Package resp reads client commands and writes replies in the Redis serialization
// protocol, RESP2 and RESP3, including the inline commands redis-cli and telnet send.
// It is tuned for the server's hot path: commands are parsed into slices reused from call
// to call, replies are appended to one buffer the caller flushes when its input is drained,
// so pipelined requests are answered with one write. It must not depend on the store,
// the command table or the network beyond io.Reader/io.Writer.
package resp
