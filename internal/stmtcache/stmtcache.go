// Package stmtcache keeps a database connection's prepared statements by
// query text, underneath database/sql.
//
// database/sql hands a query run on a DB or Tx to the driver as text, and
// the SQLite driver parses it afresh every time. River's SQLite driver runs
// all its queries that way, one per job when it completes a batch, so
// under load SQLite's parser took a quarter of the server's CPU. pgx keeps
// such a cache per connection; this package gives any driver one.
package stmtcache

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
)

// DefaultSize is the number of statements kept per connection when New is
// given 0: above the few dozen distinct queries River and the store run.
const DefaultSize = 256

// New wraps c so that each of its connections keeps up to size prepared
// statements (0: DefaultSize), least recently used first out. Statements
// prepared explicitly (DB.Prepare) are not cached: their owner closes them.
//
// The connections of c must implement the context-aware driver interfaces
// (driver.ConnBeginTx, ConnPrepareContext, QueryerContext, ExecerContext)
// and their statements StmtQueryContext and StmtExecContext; Connect fails
// otherwise, rather than quietly lose a feature.
func New(c driver.Connector, size int) driver.Connector {
	if size <= 0 {
		size = DefaultSize
	}
	return &connector{Connector: c, size: size}
}

type connector struct {
	driver.Connector
	size int
}

// inner is what a wrapped connection must offer.
type inner interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	in, ok := dc.(inner)
	if !ok {
		return nil, errors.Join(fmt.Errorf("stmtcache: %T lacks the context-aware driver interfaces", dc), dc.Close())
	}
	return &conn{in: in, size: c.size, stmts: make(map[string]*stmt, c.size)}, nil
}

// conn is one connection and its statements. database/sql uses a
// connection from one goroutine at a time (Rows.Close included), so it
// needs no lock.
type conn struct {
	in    inner
	size  int
	stmts map[string]*stmt
	clock uint64 // ticks on every use, for LRU eviction
}

type stmt struct {
	query string
	st    interface {
		driver.Stmt
		driver.StmtQueryContext
		driver.StmtExecContext
	}
	// busy is set while a result set of the statement is open: the same
	// query run meanwhile (rows read while another runs in one
	// transaction) gets a statement of its own.
	busy     bool
	lastUsed uint64
}

// get returns the cached statement for query, preparing it if needed, or
// nil when the cached one is busy.
func (c *conn) get(ctx context.Context, query string) (*stmt, error) {
	c.clock++
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil, nil
		}
		s.lastUsed = c.clock
		return s, nil
	}
	ds, err := c.in.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(interface {
		driver.Stmt
		driver.StmtQueryContext
		driver.StmtExecContext
	})
	if !ok {
		return nil, errors.Join(fmt.Errorf("stmtcache: %T lacks the context-aware statement interfaces", ds), ds.Close())
	}
	if len(c.stmts) >= c.size {
		c.evict()
	}
	s := &stmt{query: query, st: st, lastUsed: c.clock}
	c.stmts[query] = s
	return s, nil
}

// evict closes the least recently used statement that is not busy. With
// every statement busy (size result sets open at once) the cache grows by
// one instead.
func (c *conn) evict() {
	var old *stmt
	for _, s := range c.stmts {
		if !s.busy && (old == nil || s.lastUsed < old.lastUsed) {
			old = s
		}
	}
	if old != nil {
		delete(c.stmts, old.query)
		// An error closing a statement says nothing about the query that
		// needed the room; the connection is still good.
		_ = old.st.Close()
	}
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.in.QueryContext(ctx, query, args)
	}
	rows, err := s.st.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &rowsOf{Rows: rows, s: s}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.in.ExecContext(ctx, query, args)
	}
	return s.st.ExecContext(ctx, args)
}

func (c *conn) Prepare(query string) (driver.Stmt, error) { return c.in.Prepare(query) }
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.in.PrepareContext(ctx, query)
}

// Begin is required by driver.Conn; database/sql calls BeginTx.
func (c *conn) Begin() (driver.Tx, error) { return c.in.Begin() }
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.in.BeginTx(ctx, opts)
}

// Close closes the statements, then the connection.
func (c *conn) Close() error {
	var errs []error
	for _, s := range c.stmts {
		errs = append(errs, s.st.Close())
	}
	clear(c.stmts)
	return errors.Join(append(errs, c.in.Close())...)
}

func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.in.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *conn) ResetSession(ctx context.Context) error {
	if r, ok := c.in.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if v, ok := c.in.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// rowsOf frees its statement for reuse when closed. It forwards the column
// type methods database/sql's ColumnTypes uses.
type rowsOf struct {
	driver.Rows
	s *stmt
}

func (r *rowsOf) Close() error {
	err := r.Rows.Close()
	r.s.busy = false
	return err
}

func (r *rowsOf) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *rowsOf) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rowsOf) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *rowsOf) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *rowsOf) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
