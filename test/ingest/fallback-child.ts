// Child process for the EACCES fallback test: runs without privileges, asks for 127.0.0.1:514.
import { IngestService } from '../../src/main/ingest/service.js';
import { testContext } from './harness.js';

const fallback = Number(process.argv[2]);
const ctx = testContext((c) => {
  c.syslog.address = '127.0.0.1:514';
  c.syslog.protocol = 'udp';
});
const svc = new IngestService(ctx, null, { threads: 1, fallbackPort: fallback });
await svc.start();
const udpPort = svc.udpPort;
await svc.stop();
console.log(JSON.stringify({ udpPort, log: ctx.logLines.map((l) => String(l.msg)) }));
