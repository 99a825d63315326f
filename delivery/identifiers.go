package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// The erasure index: each event's personal identifiers (NewEvent.
// Identifiers, normalised by the caller) are stored as keyed hashes,
// HMAC-SHA256 under a key of this store's, beside the event's ID and in
// the transaction that stores it, so that Erase finds a person's events
// without reading every body, and so that the index does not hold the
// identifiers in clear. The key lives in the database (hookline_setting),
// which every node of a PostgreSQL store shares: whoever holds the whole
// database holds the key too, and could test guesses (phone numbers are
// few enough to try them all); what the key prevents is reading the index
// alone, or matching it against another store's or a list of hashes.
// Erase deletes an erased event's rows, so no hash outlives its data.

// identifierKeySetting names the key's row in hookline_setting.
const identifierKeySetting = "identifier_hmac_key"

// identifierHashBytes is how much of the HMAC is kept: 128 bits make a
// collision between two identifiers of one store practically impossible,
// in half the index space of the whole MAC.
const identifierHashBytes = 16

// identifierCols is the values per hookline_identifier row.
const identifierCols = 2

// loadIdentifierKey reads the store's key, creating it on first use. Nodes
// opening a new database at once race to insert it: one wins, and all
// read the winner's.
func (s *Store) loadIdentifierKey(ctx context.Context) error {
	fresh := make([]byte, sha256.Size)
	if _, err := rand.Read(fresh); err != nil {
		return fmt.Errorf("delivery: identifier key: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.sql(`INSERT INTO hookline_setting (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO NOTHING`), identifierKeySetting, hex.EncodeToString(fresh)); err != nil {
		return fmt.Errorf("delivery: identifier key: %w", err)
	}
	var stored string
	if err := s.db.QueryRowContext(ctx, s.sql(`SELECT value FROM hookline_setting WHERE name = ?`), identifierKeySetting).
		Scan(&stored); err != nil {
		return fmt.Errorf("delivery: identifier key: %w", err)
	}
	key, err := hex.DecodeString(stored)
	if err != nil || len(key) < 16 {
		return fmt.Errorf("delivery: identifier key: the stored key is malformed")
	}
	s.macs.New = func() any { return hmac.New(sha256.New, key) }
	return nil
}

// identifierHash is the index's form of identifier key k. It is kept as
// bytes (BYTEA, a BLOB on SQLite): the index's inserts land at random
// places, one page written per row at each commit, so the smaller its
// rows the more of it stays in the page cache.
func (s *Store) identifierHash(k string) []byte {
	mac := s.macs.Get().(hash.Hash)
	defer s.macs.Put(mac)
	mac.Reset()
	mac.Write([]byte(k))
	var sum [sha256.Size]byte
	return mac.Sum(sum[:0])[:identifierHashBytes:identifierHashBytes]
}

// identifierHashes hashes an event's identifiers, each once.
func (s *Store) identifierHashes(keys []string) [][]byte {
	if len(keys) == 0 {
		return nil
	}
	out := make([][]byte, 0, len(keys))
	for _, k := range keys {
		h := s.identifierHash(k)
		dup := false
		for _, have := range out {
			dup = dup || bytes.Equal(have, h)
		}
		if !dup {
			out = append(out, h)
		}
	}
	return out
}

// deleteIdentifiers removes the index rows of the events ids in tx, for
// Erase and for anything else that deletes events or their data.
func (s *Store) deleteIdentifiers(ctx context.Context, tx *sql.Tx, ids []string) error {
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxInList)]
		ids = ids[len(chunk):]
		if _, err := tx.ExecContext(ctx, s.sql(`DELETE FROM hookline_identifier WHERE event_id IN (`+placeholders(len(chunk))+`)`),
			anySlice(chunk)...); err != nil {
			return fmt.Errorf("delete identifiers: %w", err)
		}
	}
	return nil
}

// maxInList bounds the values of one IN (...) list: far under SQLite's
// and PostgreSQL's limits on placeholders.
const maxInList = 500

// placeholders is "?, ?, ..., ?" with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anySlice[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}
