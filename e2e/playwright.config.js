'use strict';
// Playwright configuration for the Sockline browser e2e suite.
// Run with `npm run test:e2e` (E2E_SERVER=go|node, default go).
const path = require('path');
const { defineConfig } = require('@playwright/test');
const { CHROMIUM, CHROMIUM_ARGS } = require('./lib/browser');

module.exports = defineConfig({
  testDir: __dirname,
  testMatch: /.*\.spec\.js$/,
  // E2E_OUTPUT_DIR: for runs side by side (scripts/test-all.sh runs the proxy set-ups in parallel)
  outputDir: process.env.E2E_OUTPUT_DIR || path.join(__dirname, 'test-results'),
  globalSetup: require.resolve('./global-setup.js'),
  // one worker, one test at a time: the machine has 2 cores
  workers: 1,
  fullyParallel: false,
  retries: 0,
  // every in-page wait has its own 15 s deadline; these bound everything else
  timeout: 60000,
  // through a proxy (E2E_PROXY) the idle tests add 9 x 8 s, and test-all.sh runs three side by side
  globalTimeout: (process.env.E2E_PROXY ? 15 : 9) * 60 * 1000,
  expect: { timeout: 15000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
    },
    actionTimeout: 15000,
    navigationTimeout: 15000,
    screenshot: 'only-on-failure',
    trace: 'off',
    video: 'off',
  },
});
