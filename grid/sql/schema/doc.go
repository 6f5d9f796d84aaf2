// Package schema is the SQL endpoint's table definitions and value codec: a table's
// declared columns as stored in the grid (one field per table of the hash TablesKey,
// its value JSON), and how a column value becomes the string a row's hash holds and
// back (package table reads and writes the rows).
package schema
