package server

import (
	"errors"
	"regexp"

	"github.com/dolthub/vitess/go/mysql"
)

// sqlStates are the SQLSTATEs MySQL gives the error codes the engine returns as HY000.
var sqlStates = map[int]string{
	mysql.ERParseError:    mysql.SSClientError, // 42000
	mysql.ERNoSuchTable:   "42S02",
	mysql.ERBadFieldError: "42S22",
	mysql.ERTableExists:   "42S01",
	mysql.ERBadDb:         mysql.SSClientError,
	mysql.ERDupEntry:      "23000",
}

// byMessage are the engine's errors it sends as ER_UNKNOWN_ERROR (1105) that MySQL
// gives a code of their own, recognised by their message.
var byMessage = []struct {
	re   *regexp.Regexp
	code int
}{
	{regexp.MustCompile(`^syntax error at position`), mysql.ERParseError},
	{regexp.MustCompile(`^column ".*" could not be found in any table in scope`), mysql.ERBadFieldError},
	{regexp.MustCompile(`^table with name .* already exists`), mysql.ERTableExists},
}

// mysqlError gives err MySQL's code and SQLSTATE where the engine's differ: the errors
// of byMessage get their code, and the codes of sqlStates their SQLSTATE.
func mysqlError(err error) error {
	var se *mysql.SQLError
	if err == nil || !errors.As(err, &se) {
		return err
	}
	num, msg, state := se.Number(), se.Message, se.SQLState()
	if num == mysql.ERUnknownError {
		for _, m := range byMessage {
			if m.re.MatchString(msg) {
				num = m.code
				break
			}
		}
	}
	if s, ok := sqlStates[num]; ok {
		state = s
	}
	if num == se.Number() && state == se.SQLState() {
		return err
	}
	return mysql.NewSQLError(num, state, "%s", msg)
}
