package auth_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	weft "github.com/weft-run/weft"
	"github.com/weft-run/weft/transport/auth"
)

func Example() {
	dir, err := os.MkdirTemp("", "weft-auth-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	keys := filepath.Join(dir, "keys.json")
	err = os.WriteFile(keys, []byte(`{"keys":[{"token":"wft_example","identity":"alice",
		"workspace":"acme","scopes":["workflows:start","executions:read"]}]}`), 0o600)
	if err != nil {
		log.Fatal(err)
	}

	a, err := auth.New(auth.Options{KeysFile: keys})
	if err != nil {
		log.Fatal(err)
	}
	id, err := a.Authenticate("wft_example")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.Name, id.Workspace, id.Can(weft.ScopeWorkflowsStart), id.Can(weft.ScopeAdmin))

	_, err = a.Authenticate("wft_guess")
	fmt.Println(weft.ErrorCode(err), weft.AsError(err).Message)
	// Output:
	// alice acme true false
	// UNAUTHENTICATED invalid or expired token
}
