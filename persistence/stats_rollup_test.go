package persistence

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/weft-run/weft"
)

// The sketch's quantile is within sketchAlpha of the true nearest-rank
// quantile, for durations from microseconds to days.
func TestSketchQuantileAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		gen  func() time.Duration
	}{
		{"uniform 0-10s", func() time.Duration { return time.Duration(rng.Int64N(int64(10 * time.Second))) }},
		{"log-uniform 1µs-1d", func() time.Duration {
			return time.Duration(math.Exp(rng.Float64()*math.Log(float64(24*time.Hour/time.Microsecond)))) * time.Microsecond
		}},
		{"constant 1.5s", func() time.Duration { return 1500 * time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Spread over 10 rollups, summed as a query sums them.
			var rs [10]rollup
			var micros []float64
			for i := range 5000 {
				d := tc.gen()
				rs[i%10].add(weft.StatusCompleted, d)
				micros = append(micros, float64(d.Microseconds()))
			}
			var sum statsSum
			for _, r := range rs {
				if err := sum.addEncoded(r.encode()); err != nil {
					t.Fatal(err)
				}
			}
			if sum.runs() != 5000 {
				t.Fatalf("sum holds %d runs, want 5000", sum.runs())
			}
			slices.Sort(micros)
			for _, q := range []float64{0.5, 0.95, 0.99} {
				want := micros[int(math.Ceil(q*float64(len(micros))))-1]
				got := sum.quantile(q)
				if want >= 1 && math.Abs(got-want)/want > sketchAlpha+1e-9 {
					t.Errorf("q%.2f = %.1f µs, want %.1f ±%.0f%%", q, got, want, sketchAlpha*100)
				}
			}
		})
	}
}

func TestRollupEncodeRoundTrip(t *testing.T) {
	var r rollup
	for i, d := range []time.Duration{0, time.Microsecond, 3 * time.Millisecond, time.Second, 40 * time.Hour, -time.Second} {
		r.add([]weft.Status{weft.StatusCompleted, weft.StatusFailed, weft.StatusCancelled}[i%3], d)
	}
	r.add(weft.StatusRunning, time.Second) // not an end: ignored
	got, err := decodeRollup(r.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("decode(encode(r)) = %+v, want %+v", got, r)
	}
	if r.runs() != 6 || r.completed != 2 || r.failed != 2 || r.cancelled != 2 {
		t.Errorf("counts %+v, want 2 of each", r)
	}
}

func TestDecodeRollupRejects(t *testing.T) {
	valid := func() []byte {
		var r rollup
		r.add(weft.StatusCompleted, time.Second)
		r.add(weft.StatusFailed, time.Minute)
		return r.encode()
	}()
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{9}, valid[1:]...)},
		{"truncated", valid[:len(valid)-1]},
		{"trailing bytes", append(append([]byte{}, valid...), 0)},
		{"too many buckets", []byte{rollupVersion, 0, 0, 0, 0, 0xff, 0xff, 0x03}},
		{"bucket past the cap", []byte{rollupVersion, 1, 0, 0, 1, 1, 0xe8, 0x07, 1}},
		{"repeated bucket", []byte{rollupVersion, 2, 0, 0, 2, 2, 5, 1, 0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := decodeRollup(tc.b); err == nil {
				t.Errorf("decodeRollup(%x) = %+v, want an error", tc.b, r)
			}
		})
	}
}

// A damaged value decodes to an error, never a panic, and whatever decodes
// survives an encode and a decode unchanged (bytes may differ: uvarints
// with redundant bytes decode too).
func FuzzDecodeRollup(f *testing.F) {
	var r rollup
	r.add(weft.StatusCompleted, time.Second)
	r.add(weft.StatusFailed, 3*time.Hour)
	f.Add(r.encode())
	f.Add([]byte{rollupVersion, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeRollup(b)
		if err != nil {
			return
		}
		again, err := decodeRollup(got.encode())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("decode(%x) = %+v; after encode and decode %+v, %v", b, got, again, err)
		}
		var sum statsSum
		if err := sum.addEncoded(b); err != nil {
			t.Errorf("decodeRollup accepts %x, addEncoded refuses it: %v", b, err)
		}
		_ = sum.quantile(0.95)
	})
}
