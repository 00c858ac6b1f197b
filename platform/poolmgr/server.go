package poolmgr

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/propagation"

	"github.com/lantern-faas/lantern/telemetry"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// Handler serves the poolmgr's instance API, used by routers in other
// processes through client.Poolmgr.
func (m *Manager) Handler() http.Handler {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = httpx.EchoErrorHandler(m.logger)
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.POST("/v1/instances", func(c echo.Context) error {
		// Continue the router's trace across the hop.
		ctx := telemetry.Propagator().Extract(c.Request().Context(), propagation.HeaderCarrier(c.Request().Header))
		c.SetRequest(c.Request().WithContext(ctx))
		var req api.InstanceRequest
		if err := json.NewDecoder(c.Request().Body).Decode(&req); err != nil {
			return httpx.Errorf(http.StatusBadRequest, "malformed instance request: %v", err)
		}
		in, err := m.GetInstance(c.Request().Context(), req)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, in)
	})
	e.GET("/v1/instances", func(c echo.Context) error {
		out, err := m.ListInstances(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	})
	e.DELETE("/v1/instances/:id", func(c echo.Context) error {
		if err := m.RemoveInstance(c.Request().Context(), c.Param("id"), c.QueryParam("reason")); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
	e.POST("/v1/activity", func(c echo.Context) error {
		var acts []api.InstanceActivity
		if err := json.NewDecoder(c.Request().Body).Decode(&acts); err != nil {
			return httpx.Errorf(http.StatusBadRequest, "malformed activity report: %v", err)
		}
		return m.ReportActivity(c.Request().Context(), acts)
	})
	e.GET("/v1/namespaces/:ns/functions/:name/coldstarts", func(c echo.Context) error {
		out, err := m.ColdStarts(c.Request().Context(), c.Param("ns"), c.Param("name"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	})
	e.GET("/v1/instances/watch", func(c echo.Context) error {
		ctx, cancel := httpx.StreamContext(c.Request().Context())
		defer cancel()
		s := httpx.NewNDJSON(c.Response())
		_ = m.WatchInstances(ctx, func(ev api.InstanceEvent) error { return s.Send(ev) })
		return nil
	})
	return httpx.NewRequestIDHandler(e)
}
