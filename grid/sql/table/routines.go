package table

import (
	"fmt"

	"github.com/dolthub/go-mysql-server/sql"
)

// The database has no triggers and no stored procedures: rows are also written by Redis
// clients and Spark, which a trigger would never see. The engine asks for them on every
// write and in information_schema, so the database answers "none" and refuses to create
// them.

var (
	_ sql.TriggerDatabase         = (*Database)(nil)
	_ sql.StoredProcedureDatabase = (*Database)(nil)
)

// GetTriggers implements sql.TriggerDatabase: none.
func (d *Database) GetTriggers(*sql.Context) ([]sql.TriggerDefinition, error) { return nil, nil }

// CreateTrigger implements sql.TriggerDatabase: refused.
func (d *Database) CreateTrigger(_ *sql.Context, def sql.TriggerDefinition) error {
	return fmt.Errorf("CREATE TRIGGER %s: triggers are not supported (rows written by Redis clients or Spark would bypass them)", def.Name)
}

// DropTrigger implements sql.TriggerDatabase: there are none.
func (d *Database) DropTrigger(_ *sql.Context, name string) error {
	return fmt.Errorf("DROP TRIGGER %s: no such trigger (triggers are not supported)", name)
}

// GetStoredProcedure implements sql.StoredProcedureDatabase: none.
func (d *Database) GetStoredProcedure(*sql.Context, string) (sql.StoredProcedureDetails, bool, error) {
	return sql.StoredProcedureDetails{}, false, nil
}

// GetStoredProcedures implements sql.StoredProcedureDatabase: none.
func (d *Database) GetStoredProcedures(*sql.Context) ([]sql.StoredProcedureDetails, error) {
	return nil, nil
}

// SaveStoredProcedure implements sql.StoredProcedureDatabase: refused.
func (d *Database) SaveStoredProcedure(_ *sql.Context, spd sql.StoredProcedureDetails) error {
	return fmt.Errorf("CREATE PROCEDURE %s: stored procedures are not supported", spd.Name)
}

// DropStoredProcedure implements sql.StoredProcedureDatabase: there are none.
func (d *Database) DropStoredProcedure(_ *sql.Context, name string) error {
	return fmt.Errorf("DROP PROCEDURE %s: no such procedure (stored procedures are not supported)", name)
}
