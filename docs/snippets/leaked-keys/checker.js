// The key checker of the book's page "Leaked keys", which shows the part
// between the ANCHOR lines; tests/api/services/guide_samples.rs runs it:
//
//   node checker.js KEY...    # prints true or false for each

// ANCHOR: checker
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  for (let k = 0; k < 8; k++) n = n & 1 ? 0xedb88320 ^ (n >>> 1) : n >>> 1;
  return n >>> 0;
});

function isMultitokenKey(key) {
  if (!/^mt_[0-9A-Za-z]{49}$/.test(key)) return false;
  let crc = 0xffffffff;
  for (let i = 3; i < 46; i++) crc = CRC_TABLE[(crc ^ key.charCodeAt(i)) & 0xff] ^ (crc >>> 8);
  crc = (crc ^ 0xffffffff) >>> 0;
  let digits = "";
  for (let i = 0; i < 6; i++) {
    digits = BASE62[crc % 62] + digits;
    crc = Math.floor(crc / 62);
  }
  return digits === key.slice(46);
}
// ANCHOR_END: checker

console.log(process.argv.slice(2).map(isMultitokenKey).join(" "));
