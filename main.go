// Command cubby serves a notes app in which every user's data lives in a
// SQLite file of their own, and is the operator's tool for that data.
package main

import (
	_ "embed"
	"fmt"
	"os"

	"cubby/tenant"
)

//go:embed schema.sql
var schemaSQL string

func main() {
	if _, err := tenant.ParseMigrations(schemaSQL); err != nil {
		fmt.Fprintln(os.Stderr, "cubby: schema.sql:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "cubby: no commands yet")
	os.Exit(2)
}
