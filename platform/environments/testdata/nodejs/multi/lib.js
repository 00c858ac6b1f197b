exports.twice = (n) => Number(n) * 2;
