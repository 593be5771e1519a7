// Preloaded into Portkey's gateway by run.sh (node --import): its start-server.js takes a port but no host,
// and would listen on every interface. This keeps a listen without a host on 127.0.0.1, like the mock
// and modelgate in the same run.
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, host, ...rest) {
  if (typeof port === 'number' && (host === undefined || typeof host === 'function')) {
    return typeof host === 'function' ? listen.call(this, port, '127.0.0.1', host, ...rest) : listen.call(this, port, '127.0.0.1', ...rest);
  }
  return listen.call(this, port, host, ...rest);
};
