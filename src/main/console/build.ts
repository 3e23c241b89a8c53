import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Bundles the console page (src/main/console/web) into dist/ui: one script and one stylesheet
 * with content hashes in their names, and index.html naming them. Run by `npm run build`, so the
 * page ships with the package and needs no network when it is opened.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const web = join(root, 'src', 'main', 'console', 'web');
const out = join(root, 'dist', 'ui');

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
const result = await build({
  entryPoints: { app: join(web, 'main.ts') },
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  sourcemap: 'linked',
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((f) => f.startsWith('app-') && f.endsWith('.js'));
const css = outputs.find((f) => f.startsWith('app-') && f.endsWith('.css'));
if (!js || !css) throw new Error(`console bundle incomplete: ${outputs.join(', ')}`);
const html = readFileSync(join(web, 'index.html'), 'utf8').replace('__JS__', js).replace('__CSS__', css);
writeFileSync(join(out, 'index.html'), html);
console.log(`console: dist/ui (${js}, ${css})`);
