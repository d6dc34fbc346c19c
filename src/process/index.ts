export { runTool, lastLine, type RunOptions, type ToolResult } from './run.js';
