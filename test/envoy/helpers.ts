import {
  type Client,
  credentials,
  loadPackageDefinition,
  makeGenericClientConstructor,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import pino from 'pino';
import { defaultConfig } from '../../src/main/config/defaults.js';
import type { Config } from '../../src/main/config/types.js';
import { checkOptions } from '../../src/main/envoy/check.js';
import { AUTH_PROTO, PROTO_DIR } from '../../src/main/envoy/proto.js';
import { EnvoyServer } from '../../src/main/envoy/server.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { BanTable, Kind, type KindCode } from '../../src/shared/bantable/index.js';
import { parseCidr } from '../../src/shared/ip/parse.js';
import { freePort } from '../helpers/net.js';

/** An in-process ext_authz server on a free loopback port with its own table and metrics. */
export async function startEnvoy(
  overrides: { envoy?: Partial<Config['envoy']>; nginx?: Partial<Config['nginx']> } = {},
  opts: { announceMs?: number; drainMs?: number } = {},
) {
  const table = new BanTable();
  const metrics = new Metrics({ defaultMetrics: false });
  const config = defaultConfig();
  config.envoy = { ...config.envoy, address: '127.0.0.1', port: await freePort(), ...overrides.envoy };
  config.nginx = { ...config.nginx, ...overrides.nginx };
  const server = new EnvoyServer({
    config: config.envoy,
    check: checkOptions(config),
    table,
    reasonText: (id) => table.reasonText(id),
    log: pino({ level: 'silent' }),
    metrics,
    announceMs: opts.announceMs ?? 0,
    drainMs: opts.drainMs,
  });
  await server.listen();
  const now = () => Math.floor(Date.now() / 1000);
  const put = (target: string, kind: KindCode, reason = 'test', seconds = 600) => {
    const c = parseCidr(target);
    table.set(
      c.bytes,
      c.family,
      c.prefixLen,
      kind,
      kind === Kind.TEMP_BAN ? now() + seconds : 0,
      1,
      table.reasonId(reason),
    );
  };
  return {
    server,
    table,
    metrics,
    config,
    port: server.port,
    ban: (ip: string, reason?: string) => put(ip, Kind.TEMP_BAN, reason),
    blacklist: (cidr: string, reason?: string) => put(cidr, Kind.BLACKLIST, reason),
    whitelist: (cidr: string) => put(cidr, Kind.WHITELIST, 'allow'),
  };
}

/** Loader options of the test clients: plain numbers for enums, so any status code shows. */
const CLIENT_LOADER = { keepCase: true, longs: String, enums: Number, defaults: true, oneofs: true } as const;

export interface HeaderValueOption {
  header: { key: string; value: string; raw_value: Buffer };
}
export interface CheckResponse {
  status: { code: number; message: string } | null;
  http_response?: 'denied_response' | 'ok_response';
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
  ok_response?: { headers: HeaderValueOption[] };
}

type Unary<Req, Res> = (req: Req, cb: (err: (Error & { code?: number }) | null, res: Res) => void) => void;

/** An Authorization client built from our .proto (what Envoy's own client would encode). */
export function authClient(port: number): Client & { Check: Unary<unknown, CheckResponse> } {
  const def = loadSync(AUTH_PROTO, { ...CLIENT_LOADER, includeDirs: [PROTO_DIR] });
  const pkg = loadPackageDefinition(def) as unknown as {
    envoy: { service: { auth: { v3: { Authorization: ServiceClientConstructor } } } };
  };
  const Ctor = pkg.envoy.service.auth.v3.Authorization;
  return new Ctor(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as Client & {
    Check: Unary<unknown, CheckResponse>;
  };
}

export function check(
  client: { Check: Unary<unknown, CheckResponse> },
  req: unknown,
): Promise<CheckResponse> {
  return new Promise((resolve, reject) =>
    client.Check(req, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

/** A raw-bytes client: the request and response are the caller's own protobuf bytes. */
export function rawClient(port: number) {
  const Ctor = makeGenericClientConstructor(
    {
      Check: {
        path: '/envoy.service.auth.v3.Authorization/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    'Authorization',
  );
  const c = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as Client & {
    Check: Unary<Buffer, Buffer>;
  };
  return {
    client: c,
    check: (b: Buffer) =>
      new Promise<Buffer>((resolve, reject) => c.Check(b, (err, res) => (err ? reject(err) : resolve(res)))),
  };
}

/** A CheckRequest object for the proto client (HTTP filter unless `network`). */
export function request(
  source: string | null,
  opts: { headers?: Record<string, string>; headerMap?: [string, string][]; network?: boolean } = {},
): unknown {
  const attributes: Record<string, unknown> = {
    destination: { address: { socket_address: { address: '192.0.2.200', port_value: 443 } } },
  };
  if (source !== null)
    attributes.source = { address: { socket_address: { address: source, port_value: 40000 } } };
  if (!opts.network) {
    const http: Record<string, unknown> = {
      id: 'req-1',
      method: 'GET',
      path: '/',
      host: 'example.com',
      protocol: 'HTTP/1.1',
    };
    if (opts.headerMap) {
      http.header_map = { headers: opts.headerMap.map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) };
    } else {
      http.headers = { ':path': '/', 'user-agent': 'test', ...opts.headers };
    }
    attributes.request = { http };
  }
  return { attributes };
}

/** Response headers as a plain object. */
export function headersOf(list: HeaderValueOption[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list ?? []) out[h.header.key] = h.header.value;
  return out;
}
