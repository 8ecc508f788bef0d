'use strict';
// Playwright configuration for the Sockline browser e2e suite.
// Run with `npm run test:e2e` (E2E_SERVER=go|node, default go).
const path = require('path');
const { defineConfig } = require('@playwright/test');
const { CHROMIUM, CHROMIUM_ARGS } = require('./lib/browser');

module.exports = defineConfig({
  testDir: __dirname,
  testMatch: /.*\.spec\.js$/,
  outputDir: path.join(__dirname, 'test-results'),
  globalSetup: require.resolve('./global-setup.js'),
  // one worker, one test at a time: the machine has 2 cores
  workers: 1,
  fullyParallel: false,
  retries: 0,
  // every in-page wait has its own 15 s deadline; these bound everything else
  timeout: 60000,
  globalTimeout: 9 * 60 * 1000,
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
