import type { MongodbConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import { parseContainer, type Container } from '../../process/container.js';
import type { StoreContext } from '../store.js';
import { toolsIn, type MongoTool } from './container-tools.js';

/**
 * With mongodb.exec, how the data crosses into or out of the container: the tool's archive stream
 * (the container returned) or the driver through the tunnel (undefined). `auto` takes the archive
 * when the container has the tool, except for a backup the server could read at one cluster time:
 * mongodump of one database cannot, and the tunnel keeps that snapshot. One log line says which.
 */
export async function archiveTransfer(config: MongodbConfig, tool: MongoTool, ctx: StoreContext, where: string, snapshot?: boolean): Promise<Container | undefined> {
  if (config.exec === undefined) return undefined;
  const container = parseContainer(config.exec, 'mongodb.exec');
  const wire = (why: string) => {
    ctx.log.info(`${where}: data through the wire-protocol tunnel (${why})`);
    return undefined;
  };
  if (config.exec_transfer === 'wire') return wire('mongodb.exec_transfer: wire');
  if (config.exec_transfer === 'auto' && snapshot === true) return wire(`the server reads every collection at one cluster time, which ${tool} of one database cannot`);
  const tools = await toolsIn(container, ctx.signal);
  if (!tools.has(tool)) {
    if (config.exec_transfer === 'auto') return wire(`${container.label} has no ${tool}`);
    throw new FerryError('MONGO_TOOL_FAILED', `mongodb.exec_transfer is archive, and ${container.label} has no ${tool} on its PATH`, {
      hint: `Use an image that ships the MongoDB database tools (the official mongo images do), or set mongodb.exec_transfer: wire (or auto).`,
    });
  }
  ctx.log.info(`${where}: data as ${tool} --archive in ${container.label}`);
  return container;
}
