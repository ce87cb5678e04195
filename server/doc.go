// Package server wires weft together: the bbolt store, the Watermill bus,
// the actor system with its supervisors, the service layer and the HTTP and
// WebSocket adapters. `weft serve` uses it, tests boot it on 127.0.0.1:0,
// and an application can embed weft with it:
//
//	reg := workflows.NewRegistry()
//	workflows.Register(reg, "greet", greet)
//	srv, err := server.New(server.Config{Addr: "127.0.0.1:8080", DataDir: "./weft-data", Registry: reg})
//	...
//	err = srv.Run(ctx) // until ctx ends, then a graceful shutdown
//
// Start and Shutdown are safe to call from different goroutines; Shutdown is
// idempotent.
package server
