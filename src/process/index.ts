export { runTool, spawnFilter, lastLine, type RunOptions, type ToolResult } from './run.js';
