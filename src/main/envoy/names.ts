/** The gRPC names edgeban serves on the ext_authz port (no gRPC library needed to know them). */
export const AUTH_SERVICE = 'envoy.service.auth.v3.Authorization';
export const CHECK_PATH = `/${AUTH_SERVICE}/Check`;
export const HEALTH_SERVICE = 'grpc.health.v1.Health';
