// The dashboard's build (dashboard/build.ts): the app bundled in memory from its source, the files `npm run build`
// writes and the package reads back, and nothing in them that loads from another origin.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleDashboard, dashboardAssets, readDashboard, writeDashboard } from '../../dashboard/build.ts';

describe('dashboard build', () => {
  const folder = mkdtempSync(join(tmpdir(), 'settle-dashboard-build-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('bundles the app from its source: a page that loads one script and one stylesheet from this server', async () => {
    // Act
    const assets = await dashboardAssets();

    // Assess
    expect(assets.html).toContain('<script type="module" src="/dashboard/app.js"></script>');
    expect(assets.html).toContain('<link rel="stylesheet" href="/dashboard/app.css" />');
    expect(assets.html).not.toMatch(/<script>|<style>|\son[a-z]+="/); // nothing inline: the server's CSP allows only 'self'
    expect(assets.js.length).toBeGreaterThan(10_000);
    expect(assets.css).toContain('[data-state]');
    expect(await dashboardAssets()).toBe(assets);
  });

  it('loads nothing from elsewhere: no URL in the page, script or stylesheet but XML namespaces', async () => {
    // Act
    const { html, js, css } = await bundleDashboard();

    // Assess
    const urls = [html, js, css].flatMap((text) => text.match(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*/gi) ?? []);
    expect(urls.filter((url) => !url.startsWith('http://www.w3.org/'))).toEqual([]);
    expect(css).not.toMatch(/@import|@font-face|url\(/);
  });

  it('writes the files the package serves, and reads them back', async () => {
    // Act
    const written = await writeDashboard(folder);
    const read = await readDashboard(folder);

    // Assess
    expect(read).toEqual(written);
  });

  it('says to build the package when the files are missing', async () => {
    await expect(readDashboard(join(folder, 'nowhere'))).rejects.toThrow(
      /index\.html is missing from .*nowhere: build the package with `npm run build`/,
    );
  });
});
