package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"
)

// BenchmarkAcceptBatch splits the cost of one group-commit transaction of
// 64 events (one delivery each), per event: "jobs" is River's InsertManyTx
// alone, "events" our event rows alone, "all" the whole write. It shows
// where intake's ceiling is: on SQLite, River's insert of the jobs is most
// of a batch.
func BenchmarkAcceptBatch(b *testing.B) {
	const n = 64
	body := `{"specversion":"1.0","source":"/shop","type":"order.created","data":{"order":"A-1001","total":42.5}}`
	batch := func(k int) []*acceptReq {
		reqs := make([]*acceptReq, n)
		for i := range reqs {
			ev := newEvent(fmt.Sprint("e", k, "-", i), NewDelivery{Delivery: httpAction("http://127.0.0.1:1/hook", body)})
			now := time.Now()
			row, err := newDeliveryRow(ev.Deliveries[0], now)
			if err != nil {
				b.Fatal(err)
			}
			reqs[i] = &acceptReq{ev: ev, now: now, rows: []deliveryRow{row},
				fresh: Receipt{EventID: newID("evt_", now), Deliveries: []Ref{{ID: row.id}}}}
		}
		return reqs
	}
	benchStores(b, func(b *testing.B, kind string) {
		for _, part := range []string{"jobs", "events", "all"} {
			b.Run(part, func(b *testing.B) {
				s := openStore(b, newTestDB(b, kind), nil)
				ctx := context.Background()
				b.ResetTimer()
				for k := range b.N {
					b.StopTimer()
					reqs := batch(k)
					now := time.Now()
					order, jobs := make([]int, n), make([]jobAt, n)
					for i, r := range reqs {
						order[i], jobs[i] = i, jobAt{id: r.rows[0].id, at: now}
					}
					b.StartTimer()
					err := s.inTx(ctx, func(tx *sql.Tx) error {
						switch part {
						case "jobs":
							_, err := s.insertJobs(ctx, tx, jobs, now)
							return err
						case "events":
							_, err := s.insertEvents(ctx, tx, reqs, order)
							return err
						}
						return s.writeEvents(ctx, tx, reqs, make([]Receipt, n))
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/event")
			})
		}
	})
}
