export { RemoteStore, type UploadOptions } from './remote-store.js';
export { parseRemoteUrl, parseRemoteReference, isRemoteReference, remoteUrl, type RemoteLocation } from './location.js';
