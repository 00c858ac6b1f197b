package environments_test

import (
	"net/http"
	"testing"
)

func TestNodejs_Load(t *testing.T) {
	t.Parallel()
	notLoaded := call{path: "/", status: http.StatusInternalServerError, bodyHas: []string{"no function loaded"}}
	runLoadCases(t, startNode, []loadCase{
		{
			name: "AsyncContext",
			code: code{"nodejs/hello.js", "hello"},
			calls: []call{{path: "/?name=lantern", status: 200, bodyHas: []string{"Hello, lantern!"},
				headerIs: map[string]string{"X-Test": "async"}}},
		},
		{
			name: "Callback",
			code: code{"nodejs/callback.js", ""},
			calls: []call{{method: http.MethodPost, path: "/", status: 201, bodyHas: []string{"made by callback"},
				headerIs: map[string]string{"X-Test": "callback"}}},
		},
		{
			name:  "ZeroArguments",
			code:  code{"nodejs/zeroarg.js", ""},
			calls: []call{{path: "/", status: 200, bodyHas: []string{"zero args"}}},
		},
		{
			name: "WritesResponseItself",
			code: code{"nodejs/direct.js", ""},
			calls: []call{{path: "/", status: 206, bodyHas: []string{"written by the function"},
				headerIs: map[string]string{"X-Test": "direct"}}},
		},
		{
			name: "MultiEntry",
			code: code{"nodejs/multi", "multi.b"},
			calls: []call{{path: "/?n=21", status: 200, bodyHas: []string{`{"b":42}`},
				headerIs: map[string]string{"Content-Type": "application/json; charset=utf-8"}}},
		},
		{
			name:       "MultiEntryMissing",
			code:       code{"nodejs/multi", "multi.c"},
			specStatus: 500,
			specHas:    []string{`function "c" not found`, "exports: a, b"},
			calls:      []call{notLoaded},
		},
		{
			name:  "ESMDefault",
			code:  code{"nodejs/esm.mjs", "esm"},
			calls: []call{{method: http.MethodPut, path: "/", status: 203, bodyHas: []string{"esm PUT"}}},
		},
		{
			name:  "ESMNamed",
			code:  code{"nodejs/esm.mjs", "esm.other"},
			calls: []call{{path: "/", status: 200, bodyHas: []string{"other"}}},
		},
		{
			// "type": "module" folder, empty entrypoint: package.json main.
			name:  "ESMPackage",
			code:  code{"nodejs/esmpkg", ""},
			calls: []call{{path: "/?name=pkg", status: 200, bodyHas: []string{`{"message":"Hello, pkg!"}`}}},
		},
		{
			// A folder whose only JavaScript file is a .cjs, next to data.
			name:  "OnlyFile",
			code:  code{"nodejs/onefile", ""},
			calls: []call{{path: "/", status: 200, bodyHas: []string{"only file: some data"}}},
		},
		{
			name: "JSONBody",
			code: code{"nodejs/echo.js", ""},
			calls: []call{{method: http.MethodPost, path: "/j", body: `{"a":1}`,
				header: []string{"Content-Type", "application/json"}, status: 200, bodyHas: []string{`POST /j {"a":1}`}}},
		},
		{
			name: "Throws",
			code: code{"nodejs/throws.js", ""},
			calls: []call{
				{path: "/", status: 500, bodyHas: []string{"function raised TypeError: boom", "throws.js:3"}},
				{path: "/?ok=1", status: 200, bodyHas: []string{"still serving"}},
			},
			logsHave: []string{"TypeError: boom"},
		},
		{
			name:       "SyntaxError",
			code:       code{"nodejs/syntaxerror.js", ""},
			specStatus: 500,
			specHas:    []string{"SyntaxError", "syntaxerror.js:2"},
			calls:      []call{notLoaded},
		},
	})
}
