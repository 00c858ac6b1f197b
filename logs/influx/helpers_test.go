package influx_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// writeLine writes raw line protocol with the 1.x API.
func writeLine(ctx context.Context, base, db, line string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		base+"/write?db="+url.QueryEscape(db)+"&precision=ns", strings.NewReader(line))
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(res.Body)
		return fmt.Errorf("write: %d %s", res.StatusCode, b)
	}
	return nil
}
