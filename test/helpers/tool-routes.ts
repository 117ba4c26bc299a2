/**
 * Routes to a local TLS tool server (the `tools` cluster), added to the gateway template
 * by the e2e suites that need an upstream of their own (Basic and query credentials,
 * echoing methods, redirects).
 */
import { expect } from 'chai';

/** The gateway template's last route: routes added go before it. */
const CATCH_ALL = '                        # Anything else: answered here, forwarded nowhere, no key involved.';

const TOOLS_CLUSTER = `
    - name: tools
      type: STATIC
      connect_timeout: 5s
      load_assignment:
        cluster_name: tools
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: 127.0.0.1, port_value: {{TOOLS_PORT}} }
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
          sni: tools.example
          common_tls_context:
            validation_context:
              trusted_ca: { filename: {{PROVIDER_CA}} }
              match_typed_subject_alt_names:
                - san_type: DNS
                  matcher: { exact: tools.example }
`;

/** `/<prefix>/` to the tools cluster as destination `destination`; `routeLines`: more route-level settings. */
export function toolRoute(prefix: string, destination: string, host: string, routeLines: readonly string[] = []): string {
  return `
                        - match: { prefix: "/${prefix}/" }
                          route: { cluster: tools, prefix_rewrite: "/", host_rewrite_literal: ${host}, timeout: 30s }${routeLines.map((line) => `\n                          ${line}`).join('')}
                          typed_per_filter_config:
                            envoy.filters.http.ext_authz:
                              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute
                              check_settings:
                                context_extensions: { destination: ${destination} }`;
}

/** The gateway template with `routes` before its catch-all route and the tools cluster added. */
export function withToolRoutes(template: string, routes: string): string {
  expect(template, 'the gateway template still has its catch-all route').to.include(CATCH_ALL);
  return `${template.replace(CATCH_ALL, `${routes.slice(1)}\n${CATCH_ALL}`).trimEnd()}\n${TOOLS_CLUSTER}`;
}
