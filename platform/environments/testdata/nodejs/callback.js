module.exports = function (context, callback) {
  setTimeout(() => callback(201, 'made by callback\n', { 'X-Test': 'callback' }), 10);
};
