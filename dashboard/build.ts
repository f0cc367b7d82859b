/**
 * The dashboard's browser app (dashboard/app/: Preact, TypeScript) as the three files the server serves: the
 * page, one script and one stylesheet. Run from this repository (tsx), it bundles the app with esbuild in memory;
 * from the published package, where the app's source is not shipped, it reads the files `npm run build` wrote
 * next to this module in dist/dashboard/. Nothing is fetched from elsewhere at run time.
 *
 *   node --import tsx dashboard/build.ts [outDir]     writes index.html, app.js, app.css (default dist/dashboard)
 *
 * @example
 * const { html, js, css } = await dashboardAssets(); // GET / → html, /dashboard/app.js → js, /dashboard/app.css → css
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DashboardAssets {
  /** The page (`GET /`): it loads /dashboard/app.css and /dashboard/app.js. */
  readonly html: string;
  readonly js: string;
  readonly css: string;
}

/** dashboard/ in the repository, dist/dashboard/ in the package. */
const here = dirname(fileURLToPath(import.meta.url));
const appFolder = join(here, 'app');
const entry = join(appFolder, 'main.tsx');
/** The prebuilt files' names, in the folder `writeDashboard` writes. */
const files = { html: 'index.html', js: 'app.js', css: 'app.css' } as const;

let cached: Promise<DashboardAssets> | undefined;

/**
 * The page, script and stylesheet: bundled from the app's source when it is here (once per process), read from
 * the prebuilt files otherwise.
 */
export function dashboardAssets(): Promise<DashboardAssets> {
  cached ??= (existsSync(entry) ? bundleDashboard() : readDashboard(here)).catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

/** Bundles dashboard/app/main.tsx with esbuild, in memory: minified ES2022 for current browsers. */
export async function bundleDashboard(): Promise<DashboardAssets> {
  // Only the repository's path needs esbuild; the package's reads files.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    outdir: join(here, '.bundle'),
    entryNames: 'app',
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    legalComments: 'none',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: join(appFolder, 'tsconfig.json'),
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const output = (extension: string) => {
    const file = result.outputFiles.find((candidate) => candidate.path.endsWith(extension));
    if (!file) throw new Error(`esbuild wrote no ${extension} file for the dashboard.`);
    return file.text;
  };
  return { html: await readFile(join(appFolder, 'index.html'), 'utf8'), js: output('.js'), css: output('.css') };
}

/** Reads the files {@link writeDashboard} wrote. */
export async function readDashboard(folder: string): Promise<DashboardAssets> {
  const read = (name: string) =>
    readFile(join(folder, name), 'utf8').catch((error: unknown) => {
      throw new Error(
        `The dashboard's ${name} is missing from ${folder}: build the package with \`npm run build\`. (${(error as Error).message})`,
      );
    });
  const [html, js, css] = await Promise.all([read(files.html), read(files.js), read(files.css)]);
  return { html, js, css };
}

/** Bundles the app and writes index.html, app.js and app.css into `folder` (`npm run build`: dist/dashboard). */
export async function writeDashboard(folder: string): Promise<DashboardAssets> {
  const assets = await bundleDashboard();
  await mkdir(folder, { recursive: true });
  await Promise.all([
    writeFile(join(folder, files.html), assets.html),
    writeFile(join(folder, files.js), assets.js),
    writeFile(join(folder, files.css), assets.css),
  ]);
  return assets;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const folder = resolve(process.argv[2] ?? join(here, '..', 'dist', 'dashboard'));
  const assets = await writeDashboard(folder);
  const kb = (text: string) => `${(Buffer.byteLength(text) / 1024).toFixed(1)} KB`;
  // On stderr: `npm pack --json` runs this (prepack) and its standard output must stay JSON.
  console.error(`Dashboard written to ${folder}: app.js ${kb(assets.js)}, app.css ${kb(assets.css)}, index.html ${kb(assets.html)}.`);
}
