"""Real-browser tests (JupyterLab 4, Notebook 7, static HTML export) through Playwright and chromium."""
