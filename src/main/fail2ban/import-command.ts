import { writeFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { type Fail2banImport, importFail2ban } from './import.js';

export const IMPORT_USAGE = `usage: edgeban import-fail2ban [options] [DIR]

Reads a fail2ban tree (default /etc/fail2ban): jail.conf, jail.d/*.conf, jail.local,
jail.d/*.local, and for each enabled jail its filter (filter.d/NAME.conf + .local, with
[INCLUDES], [Init], mode variants). Writes an edgeban configuration: the failregexes as
syslog.patterns, ignoreip as whitelist, and the jail's maxretry / findtime / bantime /
bantime.* as the ban: policy when there is one jail (jails are listed as a commented
jails: block until edgeban has jails). Prints a report per filter: regexes imported, those
that need the backtracking engine (run under the matcher's time budget and quarantine),
and those not translated, with the reason.

options:
  -o, --output FILE   write the configuration there (default: print it)
  --jail NAME         import this jail (repeatable; default: the enabled ones)
  -h, --help          this text
`;

function seconds(s: number): string {
  return `${Math.round(s)}s`;
}

/** The edgeban configuration (YAML text) for an import. */
export function configYaml(imp: Fail2banImport): string {
  const patterns = imp.jails.flatMap((j) => j.patterns);
  const doc: Record<string, unknown> = { syslog: { patterns } };
  if (imp.whitelist.length > 0)
    doc.whitelist = imp.whitelist.map((ip) => ({ ip, reason: 'fail2ban ignoreip' }));
  if (imp.jails.length === 1) {
    const j = imp.jails[0].jail;
    const ban: Record<string, unknown> = { max_attempts: j.maxretry, time_window: seconds(j.findtime) };
    if (j.bantime > 0) ban.initial_ban_time = seconds(j.bantime);
    if (j.increment && j.factor !== null && j.factor > 1) ban.escalation_factor = j.factor;
    if (j.increment && j.maxtime !== null && j.maxtime > 0) ban.max_ban_time = seconds(j.maxtime);
    doc.ban = ban;
  }
  const head = `# imported from the fail2ban tree ${imp.dir} by edgeban import-fail2ban\n`;
  const jails = imp.jails.map((x) => {
    const j = x.jail;
    const lines = [
      `#   - name: ${j.name}`,
      `#     patterns: [${x.patterns.map((p) => p.name).join(', ')}]`,
      `#     max_attempts: ${j.maxretry}`,
      `#     time_window: ${seconds(j.findtime)}`,
      `#     initial_ban_time: ${j.bantime < 0 ? 'permanent' : seconds(j.bantime)}`,
    ];
    if (j.maxtime !== null) lines.push(`#     max_ban_time: ${seconds(j.maxtime)}`);
    if (j.increment) lines.push(`#     escalation_factor: ${j.factor ?? 1}`);
    if (j.rndtime !== null)
      lines.push(`#     # bantime.rndtime ${seconds(j.rndtime)}: no edgeban equivalent yet`);
    if (j.port !== null) lines.push(`#     # port: ${j.port}`);
    lines.push(`#     enabled: ${j.enabled}`);
    return lines.join('\n');
  });
  const block = `\n# jails (fail2ban's, in the schema of edgeban's jails; not active yet):\n# jails:\n${jails.join('\n')}\n`;
  return head + yaml.dump(doc, { lineWidth: -1, noRefs: true }) + block;
}

/** The human report: per jail and filter, what was imported and what was not. */
export function importReport(imp: Fail2banImport): string {
  const p: string[] = [];
  for (const j of imp.jails) {
    const f = j.filter?.name ?? j.jail.filter;
    if (j.error !== null) {
      p.push(`jail ${j.jail.name}: filter ${f}: not read: ${j.error}`);
      continue;
    }
    const done = j.regexes.filter((r) => r.reason === null);
    const back = done.filter((r) => r.backtracking.length > 0);
    const not = j.regexes.filter((r) => r.reason !== null);
    p.push(
      `jail ${j.jail.name}: filter ${f}: ${done.length} of ${j.regexes.length} failregexes imported ` +
        `(${j.patterns.length} patterns), ${back.length} need backtracking, ${not.length} not translated`,
    );
    p.push(
      `  policy: maxretry ${j.jail.maxretry}, findtime ${j.jail.findtime}s, bantime ${j.jail.bantime}s` +
        (j.jail.increment
          ? `, increment factor ${j.jail.factor ?? 1} maxtime ${j.jail.maxtime ?? '-'}s`
          : ''),
    );
    for (const r of back) p.push(`  backtracking  #${r.index + 1}: ${r.backtracking.join(', ')}`);
    for (const r of not) p.push(`  not imported  #${r.index + 1}: ${r.reason}`);
    if (j.ignoreregex > 0)
      p.push(`  not imported  ${j.ignoreregex} ignoreregex: edgeban patterns have no exclusions`);
  }
  if (imp.skippedIgnoreIp.length > 0)
    p.push(`ignoreip host names left out: ${imp.skippedIgnoreIp.join(' ')}`);
  return `${p.join('\n')}\n`;
}

/** `edgeban import-fail2ban`: exit 0 written/printed, 2 usage or unreadable tree. */
export async function importCommand(argv: string[]): Promise<number> {
  let dir = '/etc/fail2ban';
  let output: string | null = null;
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      process.stdout.write(IMPORT_USAGE);
      return 0;
    }
    if (a === '-o' || a === '--output' || a === '--jail') {
      const v = argv[++i];
      if (v === undefined) {
        process.stderr.write(`edgeban import-fail2ban: ${a} needs a value\n\n${IMPORT_USAGE}`);
        return 2;
      }
      if (a === '--jail') only.push(v);
      else output = v;
    } else if (a === '--to-db') {
      process.stderr.write(
        'edgeban import-fail2ban: --to-db is not available yet; write a config file (-o)\n',
      );
      return 2;
    } else if (a.startsWith('-')) {
      process.stderr.write(`edgeban import-fail2ban: unknown option ${a}\n\n${IMPORT_USAGE}`);
      return 2;
    } else dir = a;
  }
  let imp: Fail2banImport;
  try {
    imp = importFail2ban(dir, only.length > 0 ? only : null);
  } catch (err) {
    process.stderr.write(`edgeban import-fail2ban: ${(err as Error).message}\n`);
    return 2;
  }
  const text = configYaml(imp);
  if (output !== null) writeFileSync(output, text);
  else await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  process.stderr.write(importReport(imp));
  if (output !== null) process.stderr.write(`configuration written to ${output}\n`);
  return 0;
}
