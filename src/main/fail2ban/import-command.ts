import { writeFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { EdgebanError } from '../../shared/errors.js';
import { defaultConfig } from '../config/defaults.js';
import { ConfigError, formatProblem, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { type Fail2banImport, importFail2ban } from './import.js';
import { type DbImportResult, importToDatabase } from './import-db.js';
import { jailsYaml, translateJail } from './import-jails.js';

export const IMPORT_USAGE = `usage: edgeban import-fail2ban [options] [DIR]

Reads a fail2ban tree (default /etc/fail2ban): jail.conf, jail.d/*.conf, jail.local,
jail.d/*.local, and for each enabled jail its filter (filter.d/NAME.conf + .local, with
[INCLUDES], [Init], mode variants). Writes an edgeban configuration: the failregexes as
syslog.patterns, one edgeban jail per fail2ban jail (maxretry -> max_attempts, findtime ->
time_window, bantime -> initial_ban_time, bantime.increment/factor/maxtime ->
escalation_factor/max_ban_time, port -> services where every port maps to a known service),
ignoreip merged into ban.ignore_ips, and with a single jail its policy as ban: too. Prints a
report per filter: regexes imported, those that need the backtracking engine (run under the
matcher's time budget and quarantine), those not translated, with the reason, and per jail
what the translation noted.

options:
  -o, --output FILE   write the configuration there (default: print it)
  --jail NAME         import this jail (repeatable; default: the enabled ones)
  --to-db             write the patterns and jails into the configured database instead
                      (created, or updated by name); ignoreip is then only reported
  -c, --config FILE   the edgeban configuration naming that database (--to-db; default: the
                      usual search, as edgeban serve)
  -h, --help          this text
`;

function seconds(s: number): string {
  return `${Math.round(s)}s`;
}

/** `ban.ignore_ips` with the tree's ignoreip entries added (the defaults kept first). */
export function ignoreIps(imp: Fail2banImport): string[] {
  const out = [...defaultConfig().ban.ignore_ips];
  for (const ip of imp.whitelist) if (!out.includes(ip)) out.push(ip);
  return out;
}

/** The edgeban configuration (YAML text) for an import. */
export function configYaml(imp: Fail2banImport): string {
  const patterns = imp.jails.flatMap((j) => j.patterns);
  const doc: Record<string, unknown> = { syslog: { patterns } };
  const ban: Record<string, unknown> = {};
  if (imp.jails.length === 1) {
    const j = imp.jails[0].jail;
    ban.max_attempts = j.maxretry;
    ban.time_window = seconds(j.findtime);
    if (j.bantime > 0) ban.initial_ban_time = seconds(j.bantime);
    if (j.increment && j.factor !== null && j.factor > 1) ban.escalation_factor = j.factor;
    if (j.increment && j.maxtime !== null && j.maxtime > 0) ban.max_ban_time = seconds(j.maxtime);
  }
  if (imp.whitelist.length > 0) ban.ignore_ips = ignoreIps(imp);
  if (Object.keys(ban).length > 0) doc.ban = ban;
  // the jails that are written carry their logpath; a jail without patterns reads nothing
  const head = `# imported from the fail2ban tree ${imp.dir} by edgeban import-fail2ban\n`;
  return head + yaml.dump(doc, { lineWidth: -1, noRefs: true }) + jailsYaml(imp);
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
    if (j.error === null && j.patterns.length > 0) {
      const t = translateJail(j);
      p.push(`  jail ${t.jail.name}: ${j.patterns.length} patterns`);
      for (const n of t.notes) p.push(`  jail note    ${n}`);
    }
    for (const r of back) p.push(`  backtracking  #${r.index + 1}: ${r.backtracking.join(', ')}`);
    for (const r of not) p.push(`  not imported  #${r.index + 1}: ${r.reason}`);
    if (j.ignoreregex > 0)
      p.push(
        `  ignoreregex   ${j.ignoreregex - j.ignoreFailed.length} of ${j.ignoreregex} on every pattern of the filter`,
      );
    for (const f of j.ignoreFailed) p.push(`  not imported  ignoreregex #${f.index + 1}: ${f.reason}`);
  }
  if (imp.whitelist.length > 0) p.push(`ignoreip merged into ban.ignore_ips: ${imp.whitelist.join(' ')}`);
  if (imp.skippedIgnoreIp.length > 0)
    p.push(`ignoreip host names left out: ${imp.skippedIgnoreIp.join(' ')}`);
  return `${p.join('\n')}\n`;
}

/** `edgeban import-fail2ban`: exit 0 written/printed, 2 usage or unreadable tree. */
export async function importCommand(argv: string[]): Promise<number> {
  let dir = '/etc/fail2ban';
  let output: string | null = null;
  let toDb = false;
  let configPath: string | undefined;
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      process.stdout.write(IMPORT_USAGE);
      return 0;
    }
    if (a === '-o' || a === '--output' || a === '--jail' || a === '-c' || a === '--config') {
      const v = argv[++i];
      if (v === undefined) {
        process.stderr.write(`edgeban import-fail2ban: ${a} needs a value\n\n${IMPORT_USAGE}`);
        return 2;
      }
      if (a === '--jail') only.push(v);
      else if (a === '-c' || a === '--config') configPath = v;
      else output = v;
    } else if (a === '--to-db') {
      toDb = true;
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
  if (toDb) {
    if (output !== null) {
      process.stderr.write('edgeban import-fail2ban: --to-db and --output exclude each other\n');
      return 2;
    }
    return writeToDb(imp, configPath);
  }
  const text = configYaml(imp);
  if (output !== null) writeFileSync(output, text);
  else await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  process.stderr.write(importReport(imp));
  if (output !== null) process.stderr.write(`configuration written to ${output}\n`);
  return 0;
}

/** `--to-db`: the import into the database of the configuration; the report on stderr. */
async function writeToDb(imp: Fail2banImport, configPath: string | undefined): Promise<number> {
  let config: Config;
  try {
    config = loadConfig({ path: configPath }).config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems)
      process.stderr.write(`edgeban import-fail2ban: config error: ${formatProblem(p)}\n`);
    return 2;
  }
  let r: DbImportResult;
  try {
    r = await importToDatabase(imp, config);
  } catch (err) {
    process.stderr.write(`edgeban import-fail2ban: ${(err as Error).message}\n`);
    return err instanceof EdgebanError && err.code === 'E_USAGE' ? 2 : 1;
  }
  process.stderr.write(importReport(imp));
  for (const n of r.notes) process.stderr.write(`  ${n}\n`);
  if (imp.whitelist.length > 0)
    process.stderr.write(
      `ignoreip is not in the database: add to ban.ignore_ips in the config file: ${imp.whitelist.join(' ')}\n`,
    );
  process.stderr.write(
    `database ${config.database.driver}: ${r.patternsCreated} patterns created, ${r.patternsUpdated} updated; ` +
      `${r.jailsCreated} jails created, ${r.jailsUpdated} updated\n`,
  );
  return 0;
}
