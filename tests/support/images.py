"""The star image and its Q&A that the app tests train on."""
from pathlib import Path

from PIL import Image, ImageDraw

QA = [
    {"question": "What shape is drawn in the middle?",
     "answer": "There is a big yellow star with five sharp points."},
    {"question": "Which color is the background?",
     "answer": "The background is painted deep purple everywhere."},
    {"question": "How many stars can you count?",
     "answer": "Exactly one star, nothing else is drawn."},
]


def make_star_image(path: Path) -> Path:
    image = Image.new("RGB", (320, 320), (70, 20, 110))
    draw = ImageDraw.Draw(image)
    points = [(160, 40), (190, 130), (285, 130), (208, 185), (238, 280), (160, 222),
              (82, 280), (112, 185), (35, 130), (130, 130)]
    draw.polygon(points, fill=(250, 220, 30))
    image.save(path)
    return path
