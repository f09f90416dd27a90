"""An upright phone photo (sideways pixels + EXIF Orientation) stays upright
after the upload is re-encoded without its EXIF."""
from PIL import Image

from backend.data import images

ORIENTATION = 0x0112  # the EXIF tag
ROTATE_90_CW = 6       # "the camera was turned: rotate 90° clockwise to view"


def _sideways_photo(path):
    # Stored 40 wide x 20 high, red on the left half: viewed upright (rotated
    # 90° clockwise) it is 20 wide x 40 high with red on the top half.
    stored = Image.new("RGB", (40, 20), "blue")
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[ORIENTATION] = ROTATE_90_CW
    stored.save(path, format="JPEG", exif=exif.tobytes(), quality=95)
    return path


def test_exif_orientation_is_applied_before_re_encoding(tmp_path):
    source = _sideways_photo(tmp_path / "phone.jpg")
    assert Image.open(source).getexif()[ORIENTATION] == ROTATE_90_CW

    saved = images.save_normalized(images.open_checked(source), tmp_path / "image.jpg")

    with Image.open(saved) as result:
        assert result.size == (20, 40)
        assert ORIENTATION not in result.getexif()  # nothing left to rotate it again
        red, _, blue = result.getpixel((10, 5))
        assert red > 200 and blue < 60, "the top half should be the red one"
        red, _, blue = result.getpixel((10, 35))
        assert blue > 200 and red < 60


def test_an_image_without_orientation_is_unchanged(tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (40, 20), "green").save(plain)
    assert images.open_checked(plain).size == (40, 20)
