package workflows_test

import (
	"context"
	"fmt"

	"github.com/weft-run/weft/workflows"
)

func ExampleNewTool() {
	type weatherIn struct {
		City  string `json:"city" jsonschema:"description=a city name"`
		Units string `json:"units,omitempty" jsonschema:"enum=metric,enum=imperial"`
	}
	weather := workflows.NewTool("weather", "Current weather in a city.", func(_ context.Context, in weatherIn) (string, error) {
		return "sunny in " + in.City, nil
	})
	// What a model is offered: the input schema comes from the Go type
	// (fields without omitempty are required).
	spec := weather.Spec()
	fmt.Println(spec.Name, "-", spec.Description)
	fmt.Println(string(spec.Parameters))
	// Output:
	// weather - Current weather in a city.
	// {"properties":{"city":{"type":"string","description":"a city name"},"units":{"type":"string","enum":["metric","imperial"]}},"required":["city"],"type":"object"}
}
